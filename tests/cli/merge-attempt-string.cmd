merge merge/ab/p.kai merge/ab/attstr.jsonl
