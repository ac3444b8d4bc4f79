simulate p.kai
