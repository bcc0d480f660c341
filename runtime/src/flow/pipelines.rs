//! A flow's pipelines: the groups of connectors linked to each other,
//! directly or through others. Each pipeline runs on one worker thread.

/// The pipelines of a flow whose connector `i` sends to `targets[i]`:
/// each is the list of its connectors' indices, in increasing order, and
/// the pipelines are ordered by their first connector.
#[must_use]
pub fn pipelines(targets: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut leader: Vec<usize> = (0..targets.len()).collect();
    for (source, sinks) in targets.iter().enumerate() {
        for &sink in sinks {
            let (a, b) = (root(&mut leader, source), root(&mut leader, sink));
            leader[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_leader = vec![usize::MAX; targets.len()];
    for connector in 0..targets.len() {
        let top = root(&mut leader, connector);
        if group_of_leader[top] == usize::MAX {
            group_of_leader[top] = groups.len();
            groups.push(Vec::new());
        }
        groups[group_of_leader[top]].push(connector);
    }
    groups
}

/// The connector that stands for the group of `connector`, shortening the
/// path to it on the way.
fn root(leader: &mut [usize], mut connector: usize) -> usize {
    while leader[connector] != connector {
        leader[connector] = leader[leader[connector]];
        connector = leader[connector];
    }
    connector
}

#[cfg(test)]
mod tests {
    use super::pipelines;

    #[test]
    fn unlinked_connectors_are_pipelines_of_their_own() {
        assert_eq!(pipelines(&[vec![], vec![]]), vec![vec![0], vec![1]]);
    }

    #[test]
    fn links_in_either_direction_join_pipelines() {
        // 0 -> 3, 2 -> 1, 4 -> 1 and 4 -> 3: one pipeline; 5 alone.
        let targets = [vec![3], vec![], vec![1], vec![], vec![1, 3], vec![]];
        assert_eq!(pipelines(&targets), vec![vec![0, 1, 2, 3, 4], vec![5]]);
    }

    #[test]
    fn separate_pairs_stay_separate() {
        let targets = [vec![1], vec![], vec![3], vec![], vec![5], vec![]];
        assert_eq!(
            pipelines(&targets),
            vec![vec![0, 1], vec![2, 3], vec![4, 5]]
        );
    }

    #[test]
    fn a_connector_linked_to_itself_is_one_pipeline() {
        assert_eq!(pipelines(&[vec![0]]), vec![vec![0]]);
    }

    #[test]
    fn no_connectors_no_pipelines() {
        assert!(pipelines(&[]).is_empty());
    }
}
