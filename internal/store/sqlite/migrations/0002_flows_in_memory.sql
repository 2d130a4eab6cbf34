-- Flows (sign-ins and resets between two pages) are kept in the process's
-- memory from now on (internal/store/memflows); a restart asks users who
-- were between two pages to start again.
DROP TABLE flows;
