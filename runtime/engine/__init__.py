"""The engine: containers from images (today: the bundle that RUN steps and containers share)."""
