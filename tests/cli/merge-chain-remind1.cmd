merge merge/chain/p.kai merge/chain/remind1.csv
