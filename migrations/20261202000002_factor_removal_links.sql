-- A sign-in method added (TOTP confirmed, a passkey registered) mails the
-- owner a notice with a link that removes it: a token of its own purpose,
-- naming the factor ('totp', or 'passkey:{id}'). Such links do not void each
-- other: each notice removes what it announced.
ALTER TABLE account_tokens DROP CONSTRAINT account_tokens_purpose_check;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_verify', 'email_change', 'factor_removal'));
ALTER TABLE account_tokens ADD COLUMN factor text;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_factor_check
    CHECK ((purpose = 'factor_removal') = (factor IS NOT NULL));
