-- Receipt numbers are issued on the write side and recorded in PaymentCharged, so a rebuild reproduces them.
-- One sequence for all merchants: nextval takes no row lock, so no merchant's charges queue behind each other.
-- Numbers are unique, increase with time, and have gaps (numbers drawn by other merchants, failed appends).
create sequence if not exists receipt_numbers;
