simulate l200.kai l200.csv
