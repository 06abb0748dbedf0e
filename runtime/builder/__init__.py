"""The Dockerfile builder: instructions → layered images, with a build cache."""
