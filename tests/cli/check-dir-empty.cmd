check --summary tree-empty
