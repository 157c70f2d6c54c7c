-- How the person's name is read (ふりがな, in hiragana), asked in the intake so staff can call back.
-- NULL for cases received before it, and for names written in letters.
ALTER TABLE cases ADD COLUMN furigana TEXT;
