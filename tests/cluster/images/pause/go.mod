module operatorargo.test/pause

go 1.22
