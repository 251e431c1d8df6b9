//! The [`ccaas_app::ports::TaskSearch`] contract suite on the tantivy adapter, in a fresh
//! directory; and what the twin cannot show: the index outlives its process.

use ccaas_app::contract;
use ccaas_app::ports::TaskSearch;
use ccaas_domain::SearchQuery;
use ccaas_search::TantivySearch;

#[tokio::test]
async fn the_tantivy_index_keeps_the_task_search_contract() {
    let dir = tempfile::tempdir().unwrap();
    let index = TantivySearch::open(dir.path()).unwrap();
    contract::search::run(&index).await;
}

#[tokio::test]
async fn an_index_reopened_from_its_directory_finds_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let index = TantivySearch::open(dir.path()).unwrap();
    contract::search::run(&index).await;
    let before = index.len();
    assert!(before > 0);
    drop(index);
    let again = TantivySearch::open(dir.path()).unwrap();
    assert_eq!(again.len(), before);
    let page = again
        .search(&SearchQuery::parse([("q", "status:failed")]).unwrap())
        .await
        .unwrap();
    assert!(page.total > 0, "{page:?}");
}

#[tokio::test]
async fn a_second_writer_on_one_directory_is_refused_not_corrupting() {
    let dir = tempfile::tempdir().unwrap();
    let _first = TantivySearch::open(dir.path()).unwrap();
    assert!(TantivySearch::open(dir.path()).is_err());
}
