simulate p.kai e.csv --until yesterday
