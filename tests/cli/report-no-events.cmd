report report/old.kai
