simulate l100.kai l100.csv
