#!/bin/bash
# Reference solution.
set -euo pipefail
cat > /app/top_customers.sql <<'SQL'
SELECT c.name AS customer_name,
       COUNT(DISTINCT o.id) AS paid_orders,
       round(COALESCE(SUM(i.quantity * i.unit_price), 0), 2) AS total_spent
FROM customers c
JOIN orders o ON o.customer_id = c.id AND o.status = 'paid'
LEFT JOIN order_items i ON i.order_id = o.id
GROUP BY c.id
HAVING COUNT(DISTINCT o.id) >= 2
ORDER BY total_spent DESC, customer_name
LIMIT 5;
SQL
