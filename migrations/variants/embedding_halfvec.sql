-- ctxbench schema variant: a half-size HNSW index for semantic search (pgvector >= 0.7).
-- An expression index on the embedding cast to halfvec(384) (16-bit floats): about half the
-- shipped index's size, so more of it stays in shared buffers beside the other queries' data.
-- The query must ORDER BY the same expression (semantic_search variant "halfvec") to use it.
-- Built on the parent: one index per partition, one after another.
CREATE INDEX idx_rat_embedding_half_hnsw
    ON resource_action_traces USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops);
-- ctxbench:down
DROP INDEX IF EXISTS idx_rat_embedding_half_hnsw;
