check --color=never --summary --Werror tree/a/good.kai tree/b
