merge merge/chain/p.kai merge/chain/channel2.csv
