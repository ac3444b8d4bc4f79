check --color=never tree/a/good.kai
