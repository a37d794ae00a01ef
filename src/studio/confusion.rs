//! The confusion matrix's cells, shaded by their share of the true label's row.

/// One cell: its count, its share of the true class's row, and whether it is correct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// Examples of the row's true label predicted as the column's label.
    pub count: usize,
    /// `count` over the row's total (0 for an empty row).
    pub share: f64,
    /// On the diagonal.
    pub correct: bool,
}

/// Cells of `matrix` (`matrix[true][predicted]`) with row shares.
pub fn cells(matrix: &[Vec<usize>]) -> Vec<Vec<Cell>> {
    matrix
        .iter()
        .enumerate()
        .map(|(t, row)| {
            let total: usize = row.iter().sum();
            row.iter()
                .enumerate()
                .map(|(p, &count)| Cell { count, share: if total == 0 { 0.0 } else { count as f64 / total as f64 }, correct: t == p })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_have_row_shares_and_an_empty_row_none() {
        let grid = cells(&[vec![3, 1], vec![0, 0]]);
        assert_eq!((grid[0][0].count, grid[0][0].share, grid[0][0].correct), (3, 0.75, true));
        assert_eq!((grid[0][1].share, grid[0][1].correct), (0.25, false));
        assert_eq!((grid[1][1].share, grid[1][1].correct), (0.0, true));
    }
}
