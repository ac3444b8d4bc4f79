merge merge/ab/p.kai merge/ab/nulid.jsonl
