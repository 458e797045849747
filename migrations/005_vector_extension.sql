-- Kubernaut migrations/005 creates the vector extension (its action_patterns/IVFFlat tables are
-- never used by the Context API and are left out). 008 needs the extension.
CREATE EXTENSION IF NOT EXISTS vector;
