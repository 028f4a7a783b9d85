"""The I/O edge of the image gate: the OCI registry client, signature fetching and `check_images`."""
