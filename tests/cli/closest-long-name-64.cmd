simulate l64.kai l64.csv
