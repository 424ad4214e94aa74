-- The engine's own merge policy leaves learning_state in several parts of very different sizes (it
-- merges parts of similar size; after a large load, 6 parts holding 11.8M partial rows of 4M cells
-- stayed so with no merge pending). Every read then merges those partial rows itself: module
-- statistics over 1M learners took 1.8 s on them against 0.7 s on one part, and one learner's state
-- 13 ms against 7 ms.
--
-- With this setting the engine also merges, in the background, any range of parts all older than
-- 10 minutes, so the state converges to one part plus the last minutes' inserts. The price is a
-- rewrite of the table every 10 minutes while events arrive: measured on 4M cells (550 MB), one
-- such merge takes 19 s of one core (about 3 % of a core). Operators trade freshness of the merged
-- state against that rewrite with ALTER TABLE … MODIFY SETTING min_age_to_force_merge_seconds
-- (docs/operations.md). learning_learners is read the same way and costs a fifth of that.
ALTER TABLE ${db}.learning_state ${on_cluster} MODIFY SETTING min_age_to_force_merge_seconds = 600;
ALTER TABLE ${db}.learning_learners ${on_cluster} MODIFY SETTING min_age_to_force_merge_seconds = 600;
