check --format xml a.kai
