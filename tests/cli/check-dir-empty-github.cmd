check --format github --summary tree-empty
