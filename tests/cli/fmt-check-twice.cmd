fmt --check --check x.kai
