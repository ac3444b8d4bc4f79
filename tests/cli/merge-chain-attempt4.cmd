merge merge/chain/p.kai merge/chain/attempt4.csv
