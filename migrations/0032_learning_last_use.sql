-- Retention by last use (R9): learning is use of the account too. Every learning event of a learner
-- moves that account's last use on its platform (account_last_use, migration 0017), kept by the engine
-- in the same insert that stores the event, so a late learning event moves it as soon as it is stored.
-- learner is the platform's account id (ccaudit.wire.LearningEventIn). Pseudonymised learners (an
-- erasure that keeps the rows, ccaudit.rights.rekey) are no account: they are left out.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_last_use_learning ${on_cluster} TO ${db}.account_last_use AS
SELECT platform, learner AS account_id, max(event_time) AS last_use
FROM ${db}.learning_events
WHERE learner != '' AND NOT startsWith(learner, 'erased:')
GROUP BY platform, account_id;

INSERT INTO ${db}.account_last_use
SELECT platform, learner, max(event_time) FROM ${db}.learning_events
WHERE learner != '' AND NOT startsWith(learner, 'erased:') GROUP BY platform, learner;
