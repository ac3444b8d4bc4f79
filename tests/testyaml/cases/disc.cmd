disc
