check --color=never --summary tree
