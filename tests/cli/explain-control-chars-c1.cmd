explain explain/control-chars.kai explain/control-chars.csv --customer "$(printf 'c\302\205d')"
