help check extra
