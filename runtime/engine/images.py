"""rmi: an image's names taken off, and the image deleted once none is left (Docker's rules
for which request untags and which deletes)."""

from __future__ import annotations

from runtime.errors import Conflict


class ImageConflict(Conflict):
    pass


def remove(store, name: str, force: bool = False) -> list[dict]:
    """What was done, in Docker's words: [{"Untagged": NAME} | {"Deleted": ID}, ...]."""
    from runtime.image import reference
    img = store.resolve(name)
    by_name = not reference.looks_like_id(name) or name in img.tags
    tags = img.tags
    if by_name and len(tags) > 1 and not force:
        store.untag(name)
        return [{"Untagged": reference.parse(name).familiar()}]
    if not by_name and len(tags) > 1 and not force:
        raise ImageConflict(f"conflict: unable to delete {img.short_id} (must be forced) - "
                            "image is referenced in multiple repositories")
    done = []
    for t in tags:
        store.untag(t)
        done.append({"Untagged": reference.parse(t).familiar()})
    return done + [{"Deleted": removed} for removed in store.remove_image(img.id)]
