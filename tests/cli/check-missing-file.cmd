check missing-file.kai
