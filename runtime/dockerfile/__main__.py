"""python -m runtime.dockerfile FILE: print the parse in BuildKit's test dump format."""

import sys

from runtime.dockerfile.parser import DockerfileSyntaxError, parse


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runtime.dockerfile DOCKERFILE", file=sys.stderr)
        return 2
    path = argv[0]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        sys.stdout.write(parse(text, filename=path).dump())
    except DockerfileSyntaxError as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{path}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


sys.exit(main(sys.argv[1:]))
