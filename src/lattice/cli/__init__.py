"""The `lattice` command: the imperative shell around the pure compiler (files in, manifests out)."""
