"""The Dockerfile: parser (text → nodes, no I/O), shell (word expansion), instructions
(nodes → typed instructions), ignore (.dockerignore)."""
