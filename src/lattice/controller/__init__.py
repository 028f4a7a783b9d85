"""The controller: Lattice in the cluster, compiling, applying and reporting status continuously."""
