merge merge/chain/p.kai merge/chain/variantch.csv
