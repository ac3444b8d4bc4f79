explain explain/control-chars.kai explain/control-chars.csv --customer "$(printf 'a\nb')"
