-- 0150: reviewer accounts that an admin can reset without taking them over, a per-reviewer
-- choice of keyboard shortcuts, and expired sessions found quickly for purging.

-- An admin's reset sets a temporary password that only opens the change-password page
-- (``must_change_password``) and stops working at ``password_expires_at``. Who reset it and
-- when stays on the account, shown to its holder and on the accounts page.
ALTER TABLE reviewer
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN password_expires_at  timestamptz,
    ADD COLUMN password_reset_by    text,
    ADD COLUMN password_reset_at    timestamptz,
    ADD COLUMN password_changed_at  timestamptz,
    ADD COLUMN shortcuts            boolean NOT NULL DEFAULT true;

CREATE INDEX reviewer_session_expires ON reviewer_session (expires_at);
