"""Work that orchestrates several rooms (hub, zoo, flops, speed, evaluation): `vzoo doctor`'s
checks and `vzoo quickstart`'s first run. It sits above the rooms and below the CLI, so no room
imports another to do it."""
