simulate l63.kai l63.csv
