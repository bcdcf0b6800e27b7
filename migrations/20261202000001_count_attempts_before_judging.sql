-- A second-factor attempt is counted before the factor is judged (one
-- conditional UPDATE … attempts < max RETURNING), so the column counts every
-- attempt, right or wrong, not only the failures recorded afterwards.
ALTER TABLE mfa_challenges RENAME COLUMN failures TO attempts;
