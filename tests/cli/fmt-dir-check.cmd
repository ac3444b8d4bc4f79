fmt --check tree
