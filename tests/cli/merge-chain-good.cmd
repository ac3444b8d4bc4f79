merge merge/chain/p.kai merge/chain/good.csv merge/chain/ask2.csv
