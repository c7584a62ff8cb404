-- 0003: each proposal records whether it was out of domain when proposed: its domain
-- distance above what held-out training domains show (E2TSurrogate.out_of_domain_threshold
-- of the model that scored it). NULL for proposals made before this migration.

ALTER TABLE proposal ADD COLUMN out_of_domain BOOLEAN;
