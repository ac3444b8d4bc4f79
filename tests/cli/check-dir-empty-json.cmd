check --format json --summary tree-empty
